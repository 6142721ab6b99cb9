-- +goose up
-- A view, in lower-case annotations (goose reads them without regard to case).
CREATE VIEW owner_names AS
    SELECT owner_name FROM owners;

-- +goose down
DROP VIEW owner_names;
