//go:build !spooldebug

package journal

// debugPoison is false in normal builds: borrowed bytes are the mapped
// pages themselves (see poison_on.go for the spooldebug behaviour).
const debugPoison = false
