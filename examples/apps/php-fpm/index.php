<?php
// The app of the PHP-FPM recipe (docs/app-servers.md). It answers "release <id> pid <pid>": <id> is the
// `version` file beside the code that runs (__DIR__ is fixed when PHP compiles the file, so code kept
// from an old release by the realpath cache or opcache answers with the old release). /slow takes 0.25 s.
if (parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) === '/slow') usleep(250000);
header('Content-Type: text/plain');
echo 'release ', trim(file_get_contents(__DIR__ . '/version')), ' pid ', getmypid(), "\n";
