CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint REFERENCES parent (id));
ALTER TABLE child ADD CONSTRAINT child_u UNIQUE (parent_id);
