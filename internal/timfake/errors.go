package timfake

import "fmt"

// Error is an IM error as the fake answers it: ErrorCode and ErrorInfo of
// the envelope. Simulated user actions return it too.
type Error struct {
	Code int
	Info string
}

func (e *Error) Error() string { return fmt.Sprintf("timfake: error %d: %s", e.Code, e.Info) }

func errf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Info: fmt.Sprintf(format, args...)}
}

// Error codes the fake answers with (Tencent's server API error code list).
const (
	CodeOK                = 0
	CodeHTTPParse         = 60002
	CodeJSONParse         = 60003
	CodeAccountOrSig      = 60004
	CodeInvalidSDKAppID   = 60006
	CodeRESTOverLimit     = 60007
	CodeBadURL            = 60009
	CodeNeedAdmin         = 60010
	CodeMissingSDKAppID   = 60012
	CodeAppDisabled       = 60016
	CodePackageExpired    = 60020
	CodeSourceIPDenied    = 60021
	CodeSigExpired        = 70001
	CodeSigMalformed      = 70003
	CodeSigMismatch       = 70009
	CodeSigIdentifier     = 70013
	CodeSigSDKAppID       = 70014
	CodeInternal          = 10002
	CodeBadCommand        = 10003
	CodeInvalidParam      = 10004
	CodeNoPermission      = 10007
	CodeOwnerCannotQuit   = 10009
	CodeGroupNotFound     = 10010
	CodeGroupFull         = 10014
	CodeInvalidGroupID    = 10015
	CodeMuted             = 10017
	CodeAccountNotFound   = 10019
	CodeAlreadyMember     = 10013
	CodeGroupIDUsed       = 10021
	CodeGroupIDUsedByYou  = 10025
	CodeAttrKeyTooLong    = 10045
	CodeAttrValueTooLong  = 10046
	CodeAttrTooManyKeys   = 10047
	CodeAttrTotalTooLarge = 10048
	CodeAttrWriteFreq     = 10049
	CodeAttrKeyMissing    = 10050
)
