-- +goose Up
-- Number 10 comes after 9 (goose orders by the number), though "00010" sorts before "9" as text:
-- this view needs the one 9_owner_names.sql makes.
CREATE VIEW user_names AS SELECT owner_name FROM owner_names WHERE owner_name <> 'space';

-- +goose Down
DROP VIEW user_names;
