// Package catalog lists the columns of the benchmark: the peer stores and,
// once they exist, spool's own. [Default] is the one place where a column is
// registered.
package catalog
