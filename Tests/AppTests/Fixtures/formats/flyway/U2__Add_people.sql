delete from PERSON where ID = 4;
