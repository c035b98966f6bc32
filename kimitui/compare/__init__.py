"""`kimitui compare`: one task, several models, each on its own copy of the project, one table."""
