package boltdb

import (
	"testing"

	"github.com/spoolhq/spool/bench/store/storetest"
)

func TestLogStoreContract(t *testing.T) { storetest.Run(t, Spec()) }
