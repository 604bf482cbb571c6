# Puma settings of the Puma recipe (docs/app-servers.md); shipped in the release and started as
#   puma -C /srv/app/current/puma.rb -b tcp://0.0.0.0:8080 --pidfile /srv/app/shared/puma.pid
directory '/srv/app/current' # a phased restart (USR1) changes here before it forks new workers: the new release
workers 4                    # cluster mode: without workers, USR1 is a full restart, not a phased one
queue_requests false         # Puma 5.6 closes a connection whose request has not arrived yet when a worker stops
# No preload_app!: with it, USR1 is not a phased restart either.
