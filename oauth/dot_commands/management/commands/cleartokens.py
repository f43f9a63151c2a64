from ._refused import refused

Command = refused("cleartokens", "Expired tokens are purged by the scheduled job oauth.purge_expired_tokens "
                  "(celery beat, hourly); it is a job run you can follow in the console.")
