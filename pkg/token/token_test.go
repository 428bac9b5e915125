package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

const testSecret = "s3cr3t-Very-Distinct-Secret"

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func signed(t *testing.T, tokens *HMACTokens, id string, now time.Time) (codec.Event, map[string]string) {
	t.Helper()
	ev := codec.Event{ID: id, Category: "math", Service: "add", Params: json.RawMessage("[1,2]")}
	h, err := tokens.Sign(&ev, now)
	if err != nil {
		t.Fatal(err)
	}
	return ev, h
}

func TestHMACAcceptsASignedEventOnce(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{})
	ev, h := signed(t, tokens, "id-1", t0)
	if ev.Token != "" || len(h[HeaderSignature]) != 64 || h[HeaderTimestamp] != strconv.FormatInt(t0.UnixMilli(), 10) {
		t.Fatalf("signed %+v with headers %v", ev, h)
	}
	if err := tokens.Validate(context.Background(), &ev, h, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	err := tokens.Validate(context.Background(), &ev, h, t0.Add(2*time.Second))
	if !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), "replay") {
		t.Errorf("replay: %v", err)
	}
	// Another validator (another agent) has its own cache.
	other := NewHMACTokens(testSecret, HMACOptions{})
	if err := other.Validate(context.Background(), &ev, h, t0); err != nil {
		t.Errorf("other validator: %v", err)
	}
}

func TestHMACSurvivesTheWire(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{})
	ev := codec.Event{ID: "id\r\n<&>", Category: "ü]]>", Service: "s\x00", Params: json.RawMessage(" [\"]]>\", \"\uFFFE\"]\r\n")}
	h, err := tokens.Sign(&ev, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.DecodeEvent(codec.EncodeEvent(&ev), codec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.Validate(context.Background(), &got, h, t0); err != nil {
		t.Errorf("decoded event fails its signature: %v (%+v)", err, got)
	}
	nilParams := codec.Event{ID: "n", Category: "c", Service: "s"}
	h, _ = tokens.Sign(&nilParams, t0)
	got, _ = codec.DecodeEvent(codec.EncodeEvent(&nilParams), codec.Options{})
	if err := tokens.Validate(context.Background(), &got, h, t0); err != nil {
		t.Errorf("nil params: %v", err)
	}
}

func TestHMACRejectsTamperingWithEachSignedField(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{})
	tamper := map[string]func(ev *codec.Event, h map[string]string){
		"id":       func(ev *codec.Event, _ map[string]string) { ev.ID += "x" },
		"category": func(ev *codec.Event, _ map[string]string) { ev.Category = "admin" },
		"service":  func(ev *codec.Event, _ map[string]string) { ev.Service = "delete" },
		"params":   func(ev *codec.Event, _ map[string]string) { ev.Params = json.RawMessage("[1,3]") },
		"timestamp": func(_ *codec.Event, h map[string]string) {
			h[HeaderTimestamp] = strconv.FormatInt(t0.UnixMilli()+1, 10)
		},
		"signature": func(_ *codec.Event, h map[string]string) {
			s := []byte(h[HeaderSignature])
			s[0] ^= 1
			h[HeaderSignature] = string(s)
		},
		"signature not hex":   func(_ *codec.Event, h map[string]string) { h[HeaderSignature] = strings.Repeat("zz", 32) },
		"signature short":     func(_ *codec.Event, h map[string]string) { h[HeaderSignature] = h[HeaderSignature][:62] },
		"timestamp not a num": func(_ *codec.Event, h map[string]string) { h[HeaderTimestamp] = "yesterday" },
		"no signature":        func(_ *codec.Event, h map[string]string) { delete(h, HeaderSignature) },
		"no timestamp":        func(_ *codec.Event, h map[string]string) { delete(h, HeaderTimestamp) },
		"field boundary": func(ev *codec.Event, _ map[string]string) {
			ev.Category, ev.Service = ev.Category+ev.Service[:1], ev.Service[1:]
		},
	}
	for name, f := range tamper {
		ev, h := signed(t, tokens, "tamper-"+name, t0)
		f(&ev, h)
		err := tokens.Validate(context.Background(), &ev, h, t0)
		if !errors.Is(err, ErrBadToken) {
			t.Errorf("%s tampered: %v", name, err)
		}
	}
	// Signed with another secret.
	ev, h := signed(t, NewHMACTokens("other", HMACOptions{}), "foreign", t0)
	if err := tokens.Validate(context.Background(), &ev, h, t0); !errors.Is(err, ErrBadToken) {
		t.Errorf("foreign secret: %v", err)
	}
}

func TestHMACRejectsTimestampsOutsideTheSkew(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{Skew: time.Minute})
	for _, d := range []time.Duration{-time.Minute - time.Millisecond, time.Minute + time.Millisecond, -time.Hour, 24 * time.Hour} {
		ev, h := signed(t, tokens, "skew"+d.String(), t0)
		err := tokens.Validate(context.Background(), &ev, h, t0.Add(d))
		if !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), "skew") {
			t.Errorf("signed %v away: %v", d, err)
		}
	}
	for _, d := range []time.Duration{-time.Minute, time.Minute, 0} {
		ev, h := signed(t, tokens, "ok"+d.String(), t0)
		if err := tokens.Validate(context.Background(), &ev, h, t0.Add(d)); err != nil {
			t.Errorf("signed %v away: %v", d, err)
		}
	}
}

func TestHMACRemembersIDsForTheWholeSkewWindow(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{Skew: time.Minute, ReplayWindow: time.Second})
	// Signed by a clock a minute fast: valid until t0+2m, so remembered
	// until then although the replay window asks for less.
	ev, h := signed(t, tokens, "fast", t0.Add(time.Minute))
	if err := tokens.Validate(context.Background(), &ev, h, t0); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{time.Second, time.Minute, 2*time.Minute - time.Millisecond} {
		if err := tokens.Validate(context.Background(), &ev, h, t0.Add(at)); !errors.Is(err, ErrBadToken) {
			t.Errorf("replay at +%v accepted", at)
		}
	}
	// Once outside the skew window it is refused for its age.
	if err := tokens.Validate(context.Background(), &ev, h, t0.Add(3*time.Minute)); !errors.Is(err, ErrBadToken) {
		t.Errorf("replay at +3m accepted")
	}
}

func TestHMACReplayCacheIsBoundedAndStaysSafe(t *testing.T) {
	const size = 8
	tokens := NewHMACTokens(testSecret, HMACOptions{ReplayCacheSize: size})
	var evs []codec.Event
	var hs []map[string]string
	for i := range 3 * size {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		ev, h := signed(t, tokens, "id"+strconv.Itoa(i), at)
		if err := tokens.Validate(context.Background(), &ev, h, at); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		evs, hs = append(evs, ev), append(hs, h)
	}
	if n := len(tokens.replay.seen); n > size || tokens.replay.n > size || len(tokens.replay.order) > size {
		t.Errorf("cache holds %d ids, %d ring entries, bound %d", n, tokens.replay.n, size)
	}
	// Every replay is refused: remembered ones as replays, forgotten ones
	// because their timestamps are below the cache's floor.
	for i := range evs {
		if err := tokens.Validate(context.Background(), &evs[i], hs[i], t0.Add(time.Second)); !errors.Is(err, ErrBadToken) {
			t.Errorf("replay of event %d accepted", i)
		}
	}
	// A fresh event still passes.
	at := t0.Add(time.Second)
	ev, h := signed(t, tokens, "fresh", at)
	if err := tokens.Validate(context.Background(), &ev, h, at); err != nil {
		t.Errorf("fresh event: %v", err)
	}
}

func TestHMACReplayCacheForgetsExpiredIDs(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{Skew: time.Second, ReplayWindow: 2 * time.Second})
	for i := range 100 {
		at := t0.Add(time.Duration(i) * time.Second)
		ev, h := signed(t, tokens, "id"+strconv.Itoa(i), at)
		if err := tokens.Validate(context.Background(), &ev, h, at); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(tokens.replay.seen); n > 3 {
		t.Errorf("%d ids remembered, want only those of the last replay window", n)
	}
	// An expired id may be used again once (a new message with a new timestamp).
	at := t0.Add(time.Hour)
	ev, h := signed(t, tokens, "id1", at)
	if err := tokens.Validate(context.Background(), &ev, h, at); err != nil {
		t.Errorf("reused expired id: %v", err)
	}
}

func TestHMACIsSafeForConcurrentUse(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{ReplayCacheSize: 64})
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := map[string]int{}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := "id" + strconv.Itoa(i%50) // every id from several goroutines
				ev := codec.Event{ID: id, Category: "c", Service: strconv.Itoa(g), Params: json.RawMessage("1")}
				h, _ := tokens.Sign(&ev, t0)
				if tokens.Validate(context.Background(), &ev, h, t0) == nil {
					mu.Lock()
					accepted[id]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for id, n := range accepted {
		if n != 1 {
			t.Errorf("id %s accepted %d times", id, n)
		}
	}
}

func TestHMACCompatAlsoSetsTheDailyToken(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{Compat: true, Location: time.UTC})
	ev, h := signed(t, tokens, "c", t0)
	if ev.Token != DailyToken(testSecret, t0, time.UTC) {
		t.Errorf("token %q", ev.Token)
	}
	if err := NewDailyTokens(testSecret, time.UTC).Validate(context.Background(), &ev, nil, t0); err != nil {
		t.Errorf("a py-servicebus agent would refuse it: %v", err)
	}
	if err := tokens.Validate(context.Background(), &ev, h, t0); err != nil {
		t.Error(err)
	}
	// A daily token alone does not pass the HMAC validator.
	ev2 := codec.Event{ID: "d", Category: "c", Service: "s", Token: DailyToken(testSecret, t0, time.UTC)}
	if err := tokens.Validate(context.Background(), &ev2, nil, t0); !errors.Is(err, ErrBadToken) {
		t.Errorf("daily token alone: %v", err)
	}
}

func TestDailyTokensRejectWrongTokens(t *testing.T) {
	tokens := NewDailyTokens(testSecret, time.UTC)
	for _, tok := range []string{"", "x", DailyToken("other", t0, time.UTC), strings.ToUpper(DailyToken(testSecret, t0, time.UTC))} {
		if err := tokens.Validate(context.Background(), &codec.Event{Token: tok}, nil, t0); !errors.Is(err, ErrBadToken) {
			t.Errorf("token %q: %v", tok, err)
		}
	}
}

func TestNoTokensAcceptsAll(t *testing.T) {
	ev := codec.Event{Token: "keep"}
	if h, err := NoTokens.Sign(&ev, t0); h != nil || err != nil || ev.Token != "keep" {
		t.Errorf("Sign: %v %v %+v", h, err, ev)
	}
	if err := NoTokens.Validate(context.Background(), &codec.Event{}, nil, t0); err != nil {
		t.Error(err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	daily := NewDailyTokens(testSecret, nil)
	hm := NewHMACTokens(testSecret, HMACOptions{Compat: true})
	holder := struct {
		Signer    Signer
		Validator Validator
		Daily     DailyTokens
		HMAC      *HMACTokens
		key       *secretKey
	}{daily, hm, *daily, hm, newSecretKey(testSecret)}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		for _, v := range []any{daily, hm, *daily, holder, &holder, newSecretKey(testSecret), daily.secret, hm.key, *daily.secret} {
			out = append(out, fmt.Sprintf(verb, v))
		}
	}
	out = append(out, daily.String(), daily.GoString(), hm.String(), hm.GoString())
	ctx := context.Background()
	out = append(out, fmt.Sprint(daily.Validate(ctx, &codec.Event{Token: testSecret}, nil, t0)))
	out = append(out, fmt.Sprint(hm.Validate(ctx, &codec.Event{ID: testSecret}, map[string]string{HeaderTimestamp: "1", HeaderSignature: testSecret}, t0)))
	ev, h := signed(t, hm, "x", t0)
	out = append(out, fmt.Sprint(hm.Validate(ctx, &ev, h, t0.Add(time.Hour))))
	for _, s := range out {
		for _, leak := range []string{testSecret, fmt.Sprintf("%x", testSecret), fmt.Sprintf("%X", testSecret), "Very-Distinct"} {
			if strings.Contains(s, leak) {
				t.Errorf("secret printed: %s", s)
			}
		}
	}
}

// An accepted id is remembered for the whole ReplayWindow, not only the
// skew: the same id signed again later (a new timestamp, within the window)
// is refused, and accepted once the window has passed.
func TestHMACRemembersAnIDForTheWholeReplayWindow(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{Skew: time.Minute, ReplayWindow: 10 * time.Minute})
	ev, h := signed(t, tokens, "once", t0)
	if err := tokens.Validate(context.Background(), &ev, h, t0); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(5 * time.Minute) // past the skew, within the window
	ev, h = signed(t, tokens, "once", later)
	if err := tokens.Validate(context.Background(), &ev, h, later); !errors.Is(err, ErrBadToken) {
		t.Fatalf("the id again %s later, within the replay window: %v, want ErrBadToken", later.Sub(t0), err)
	}
	after := t0.Add(11 * time.Minute)
	ev, h = signed(t, tokens, "once", after)
	if err := tokens.Validate(context.Background(), &ev, h, after); err != nil {
		t.Fatalf("the id again after the replay window: %v", err)
	}
}

// The replay ring grows as ids arrive (64, 128, 256 entries): every id
// accepted before a growth is still refused as a replay after it.
func TestHMACReplayCacheKeepsEveryIDAcrossGrowth(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{ReplayCacheSize: 1000})
	const n = 200
	for i := range n {
		ev, h := signed(t, tokens, "grow"+strconv.Itoa(i), t0)
		if err := tokens.Validate(context.Background(), &ev, h, t0); err != nil {
			t.Fatalf("id %d: %v", i, err)
		}
	}
	for i := range n {
		ev, h := signed(t, tokens, "grow"+strconv.Itoa(i), t0)
		if err := tokens.Validate(context.Background(), &ev, h, t0); !errors.Is(err, ErrBadToken) {
			t.Fatalf("replay of id %d after the ring grew: %v, want ErrBadToken", i, err)
		}
	}
}

// The skew error says how far off the timestamp is.
func TestHMACSkewErrorSaysHowFarOff(t *testing.T) {
	tokens := NewHMACTokens(testSecret, HMACOptions{Skew: time.Minute})
	ev, h := signed(t, tokens, "late", t0)
	err := tokens.Validate(context.Background(), &ev, h, t0.Add(5*time.Minute))
	if !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), "5m0s away") || !strings.Contains(err.Error(), "skew 1m0s") {
		t.Errorf("5 minutes late: %v, want the offset 5m0s and the skew 1m0s", err)
	}
}

// An id is remembered until its expiry and no longer; an expired id leaves
// the cache without raising its floor, so a full cache refuses only
// timestamps it could no longer tell from replays.
func TestReplayCacheForgetsAnExpiredIDWithoutRaisingItsFloor(t *testing.T) {
	var c replayCache
	c.init(1)
	if r := c.admit("a", 5, 5, 10); r != "" {
		t.Fatal(r)
	}
	if r := c.admit("a", 5, 9, 19); !strings.Contains(r, "replay") {
		t.Errorf("a at 9 (expires 10): %q, want a replay", r)
	}
	if r := c.admit("b", 10, 10, 20); r != "" {
		t.Fatalf("b at 10, a expired: %q", r)
	}
	// b fills the cache: c is admitted by evicting b, and only then does
	// the floor rise to b's timestamp.
	if r := c.admit("c", 5, 10, 20); r != "" {
		t.Errorf("c with timestamp 5 after a expired: %q, want admitted (the floor is b's, 10, only after c)", r)
	}
	if r := c.admit("d", 10, 11, 21); !strings.Contains(r, "cache full") {
		t.Errorf("d with timestamp 10 after b was evicted: %q, want refused below the floor", r)
	}
}
