"""The label store: answers by request key in SQLite, named label sets, their export and import."""
