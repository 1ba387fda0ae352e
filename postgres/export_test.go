package postgres

// Internals for the tests of package postgres_test.
var ClaimPickSQL, ClaimSQL = claimPickSQL, claimSQL
