-- a comment
insert into PERSON (ID, NAME) values (4, 'it''s me; really');
