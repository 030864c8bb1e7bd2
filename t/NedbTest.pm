# NedbTest.pm -- helpers shared by NEDB's TAP tests.
#
#   use FindBin;
#   use lib $FindBin::RealBin;
#   use NedbTest;
#   $NedbTest::node = $node;    # the cluster q1() talks to
package NedbTest;

use strict;
use warnings;

use Exporter 'import';
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);

our @EXPORT = qw(q1 sql_array);
our $node;

# run one query; on failure die with the query and any crash in the server log
sub q1
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return $out if $ret == 0;
	# the postmaster logs a crashed backend a moment after the client notices
	my @bad;
	for (1 .. 30)
	{
		@bad = grep { /terminated by (?:signal|exception)|PANIC|TRAP:/ } split /\n/,
		  slurp_file($node->logfile);
		last if @bad || $ret != 2;
		usleep(100_000);
	}
	die "query failed (psql exit $ret): "
	  . substr($sql, 0, 300)
	  . "\n$err\n"
	  . join("\n", "server log:", @bad) . "\n";
}

# a text[] literal of the given values (undef as NULL)
sub sql_array
{
	my @v = @_;
	return "ARRAY[]::text[]" unless @v;
	return "ARRAY[" . join(',', map { defined $_ ? "'$_'" : 'NULL' } @v) . "]::text[]";
}

1;
