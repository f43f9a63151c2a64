from ._refused import refused

Command = refused("createapplication", "Create an API client with `manage.py create_api_client <tenant> <name> "
                  "<admin scope>...`, or any client in the console or with POST /api/v1/clients.")
