package hostsdk

import "time"

// quietRounds decides when a re-check round may confirm every open
// stream's viewer without asking the plugin: when the host's
// PermissionVersioner vouches that nothing its answers depend on has
// changed since a round that asked, and was answered in full, under the
// same version.
//
// A round that asks is answered partly from the plugin's permission
// cache, so right after a change it may still hear answers from before
// it. Such a round does not count: only one that starts a whole cache
// lifetime after the version was first seen does, and every answer it
// hears was worked out after the change.
type quietRounds struct {
	versions PermissionVersioner // nil: every round asks
	ttl      time.Duration       // the longest the plugin keeps an answer

	known    bool // version is the host's, as a round last read it
	version  uint64
	seen     time.Time // when a round first read version
	instance *instance // the plugin process rounds asked since then
	asked    time.Time // start of the last round that counts; zero if none
}

// begin starts a round at now, with inst the running plugin process, and
// reports whether it may confirm every viewer without asking.
func (q *quietRounds) begin(now time.Time, inst *instance) bool {
	if q.versions == nil {
		return false
	}
	v, ok := q.versions.PermissionVersion()
	if !ok || !q.known || v != q.version || inst != q.instance {
		*q = quietRounds{versions: q.versions, ttl: q.ttl, known: ok, version: v, seen: now, instance: inst}
		return false
	}
	return !q.asked.IsZero() && now.Sub(q.asked) < QuietRecheckLimit
}

// answered records that the round begun at started asked about every
// viewer and heard every answer.
func (q *quietRounds) answered(started time.Time) {
	if q.known && started.Sub(q.seen) >= q.ttl {
		q.asked = started
	}
}
