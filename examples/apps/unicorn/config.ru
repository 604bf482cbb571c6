# The app of the Puma and unicorn recipes (docs/app-servers.md). It answers "release <id> pid <pid>": <id> is
# the `version` file beside this file, read once, when the worker loads the app. /slow takes 0.25 s.
release = File.read(File.join(__dir__, 'version')).strip
run lambda { |env|
  sleep 0.25 if env['PATH_INFO'] == '/slow'
  [200, { 'content-type' => 'text/plain' }, ["release #{release} pid #{Process.pid}\n"]]
}
