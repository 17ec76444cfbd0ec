"""The app's PostgreSQL records: typed models, sessions, migrations, repository functions."""
