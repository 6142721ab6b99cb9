alter table profiles add column avatar_url text;
create function profile_count() returns bigint
  language sql
  begin atomic; select count(*) from profiles; end;
