# The app of the Starman recipe (docs/app-servers.md). It answers "release <id> pid <pid>": <id> is the
# `version` file beside this file, read once, when the worker loads the app. /slow takes 0.25 s.
use strict;
use File::Basename qw(dirname);
use Time::HiRes ();
open my $fh, '<', dirname(__FILE__) . '/version' or die "version: $!";
chomp(my $release = <$fh>);
sub {
    my $env = shift;
    Time::HiRes::sleep(0.25) if $env->{PATH_INFO} eq '/slow';
    [200, ['Content-Type' => 'text/plain'], ["release $release pid $$\n"]];
};
