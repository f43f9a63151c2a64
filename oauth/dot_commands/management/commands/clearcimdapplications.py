from ._refused import refused

Command = refused("clearcimdapplications", "Clients registered from a Client ID Metadata Document are tenant "
                  "clients: remove one in the console or with DELETE /api/v1/clients/<id>, which is audited.")
