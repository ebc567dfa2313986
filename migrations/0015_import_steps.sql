-- Exports carry ticked sub-steps; those of unknown skills are kept aside like the rest.
alter table import_unmatched drop constraint import_unmatched_item_check;
alter table import_unmatched add constraint import_unmatched_item_check
    check (item in ('roadmap', 'skill', 'event', 'note', 'evidence', 'step'));
