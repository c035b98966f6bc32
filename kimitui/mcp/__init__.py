"""MCP client: servers from config, their tools as model tools (no Textual here)."""
