CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT ';');
CREATE INDEX widgets_name ON widgets (name);
