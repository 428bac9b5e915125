package publish

import (
	"fmt"
	"strings"
)

// refused is the error of a publish that no broker will take: every path
// (only that one when only >= 0) is down, and its last attempt was a
// refusal that cannot heal. The error wraps each broker's
// *broker.RefusedError, so it matches ErrRefused. nil when any path may
// yet take the publish.
func (p *Publisher) refused(only int) error {
	var causes []any
	for _, pp := range p.pathsOf(only) {
		st := pp.path.State()
		if st.Refused == nil || st.Healthy {
			return nil
		}
		causes = append(causes, error(st.Refused))
	}
	if len(causes) == 1 {
		return fmt.Errorf("failover: %w", causes[0].(error))
	}
	return fmt.Errorf("failover: every broker refused: "+strings.Repeat("; %w", len(causes))[2:], causes...)
}

// downCauses are the last failures of the paths that are down (only that
// one when only >= 0), each naming its broker, for an error that says why
// no broker took a publish.
func (p *Publisher) downCauses(only int) []any {
	var causes []any
	for _, pp := range p.pathsOf(only) {
		st := pp.path.State()
		switch {
		case st.Healthy || st.Blocked:
		case st.Err != nil:
			causes = append(causes, st.Err)
		case st.Connects == 0:
			causes = append(causes, fmt.Errorf("broker: %s: no answer yet to the first connect", pp.broker))
		}
	}
	return causes
}

// pathsOf is every path, or path only alone when only >= 0.
func (p *Publisher) pathsOf(only int) []*pathPub {
	if only >= 0 {
		return p.paths[only : only+1]
	}
	return p.paths
}
