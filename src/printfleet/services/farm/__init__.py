"""The farm's processes working as one (docs/farm.md): announcements between them (:mod:`.announcements`), each
printer owned by one of them (:mod:`.ownership`), the owners' printer statuses shared with the others
(:mod:`.status_sharing`) and commands sent through a printer's owner (:mod:`.command_relay`)."""
