"""Agent Client Protocol front end."""
