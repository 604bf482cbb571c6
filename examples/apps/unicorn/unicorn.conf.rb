# unicorn settings of the unicorn recipe (docs/app-servers.md); shipped in the release and started as
#   unicorn -E production -l 0.0.0.0:8080 -c /srv/app/current/unicorn.conf.rb
working_directory '/srv/app/current' # USR2 starts the new master here, through current: it loads the new release
pid '/srv/app/shared/unicorn.pid'    # USR2 renames it to unicorn.pid.oldbin and the new master writes its own
worker_processes 4
preload_app false                    # the default: each worker loads config.ru itself
