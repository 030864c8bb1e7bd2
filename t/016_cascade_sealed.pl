# Cascade's crash test (t/005_cascade_crash.pl) again, with a master key
# configured (nedb.tmk_file, README: Encryption at rest): every chunk is
# sealed under the database's data key, and a crash mid-upload of an
# encrypted file still leaves every committed version readable and
# byte-exact after restart, no orphan chunk, the tree and proofs intact.

use strict;
use warnings;
# loaded here, at compile time, so that their INIT blocks run
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;

$ENV{NEDB_CASCADE_SEALED} = 1;
my $rc = do "$FindBin::RealBin/005_cascade_crash.pl";
die "t/005_cascade_crash.pl: " . ($@ || $!) unless defined $rc;
