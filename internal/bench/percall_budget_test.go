package bench

// Allocation budgets of the per-call path's steps (percall_test.go), as
// measured when the guard was written: lower them when a change saves an
// allocation, so that the next one cannot spend it unseen.
const (
	senderEncodeBudget   = 4 // json.Marshal of the params, the token, the envelope
	agentUnmarshalBudget = 9 // 10 before the map was sized for the properties
	agentDecodeBudget    = 2
	agentServeBudget     = 9
	agentHandleBudget    = 19 // 20 with watermill.NewUUID for the reply (router.newUUID)
	senderDecodeBudget   = 1
)
