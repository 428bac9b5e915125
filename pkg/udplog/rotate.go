package udplog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// writeBuffer is how many bytes of whole lines are gathered before a write.
const writeBuffer = 256 << 10

// rotatedName matches the suffix of a rotated file: .YYYY-MM-DD or .YYYY-MM-DD.N
var rotatedName = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})(?:\.(\d+))?$`)

// rotatingFile writes whole lines to a file that is renamed to
// FILE.YYYY-MM-DD at local midnight (or FILE.YYYY-MM-DD.N when the size cap
// is hit), keeping the newest keep rotated files. Not safe for concurrent
// use: the Server serializes calls.
type rotatingFile struct {
	path    string
	keep    int // < 0: keep all
	maxSize int64
	now     func() time.Time
	loc     *time.Location

	f       *os.File
	pending []byte // whole lines not yet written
	size    int64  // bytes in the file, pending excluded
	day     time.Time
	next    time.Time // rotation is due at or after this instant

	rotations atomic.Uint64 // read by Stats without the Server's lock
}

func (w *rotatingFile) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, st.Size()
	from := w.now()
	if st.Size() > 0 {
		from = st.ModTime() // a file left from an earlier day rotates at its first write
	}
	w.day = dayStart(from, w.loc)
	w.next = w.day.AddDate(0, 0, 1)
	return nil
}

func dayStart(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// writeLine queues one line (newline included), rotating first when due.
func (w *rotatingFile) writeLine(line []byte) error {
	var errs []error
	if w.f == nil {
		if err := w.open(); err != nil {
			return fmt.Errorf("udplog: line dropped: %w", err)
		}
	}
	if !w.now().Before(w.next) {
		errs = append(errs, w.rotate())
	}
	if w.maxSize > 0 && w.size+int64(len(w.pending)) > 0 && w.size+int64(len(w.pending)+len(line)) > w.maxSize {
		errs = append(errs, w.rotate())
	}
	if len(w.pending)+len(line) > writeBuffer {
		errs = append(errs, w.flush())
	}
	w.pending = append(w.pending, line...)
	return errors.Join(errs...)
}

// flush writes the queued lines in one write, so a reader of the file never
// sees a line cut by another writer.
func (w *rotatingFile) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	if w.f == nil {
		w.pending = w.pending[:0]
		return fmt.Errorf("udplog: lines dropped: %s is not open", w.path)
	}
	n, err := w.f.Write(w.pending)
	w.size += int64(n)
	w.pending = w.pending[:0]
	if cap(w.pending) > 4*writeBuffer {
		w.pending = nil // a burst of huge lines; do not hold the memory
	}
	return err
}

func (w *rotatingFile) rotate() error {
	ferr := w.flush()
	if err := w.f.Close(); err != nil && ferr == nil {
		ferr = err
	}
	w.f = nil
	target, err := w.freeName(w.day.Format("2006-01-02"))
	if err == nil {
		err = os.Rename(w.path, target)
	}
	if oerr := w.open(); oerr != nil {
		return errors.Join(ferr, err, oerr)
	}
	if w.size > 0 && err == nil {
		return errors.Join(ferr, fmt.Errorf("udplog: %s not empty after rotation", w.path))
	}
	w.day = dayStart(w.now(), w.loc)
	w.next = w.day.AddDate(0, 0, 1)
	if err == nil {
		w.rotations.Add(1)
	}
	return errors.Join(ferr, err, w.prune())
}

// freeName is the name for the file of day: FILE.DAY, or FILE.DAY.N with N
// above every index of that day already there, so names sort by age.
func (w *rotatingFile) freeName(day string) (string, error) {
	old, err := w.rotated()
	if err != nil {
		return "", err
	}
	next := -1
	for _, r := range old {
		if r.date == day {
			next = max(next, r.idx)
		}
	}
	if next < 0 {
		return w.path + "." + day, nil
	}
	return w.path + "." + day + "." + strconv.Itoa(next+1), nil
}

type rotated struct {
	name string
	date string
	idx  int // 0 for FILE.DAY
}

// rotated lists the rotated files of w.path, oldest first.
func (w *rotatingFile) rotated() ([]rotated, error) {
	dir, base := filepath.Split(w.path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var old []rotated
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || e.IsDir() {
			continue
		}
		m := rotatedName.FindStringSubmatch(suffix)
		if m == nil {
			continue
		}
		idx, _ := strconv.Atoi(m[2])
		old = append(old, rotated{filepath.Join(dir, e.Name()), m[1], idx})
	}
	slices.SortFunc(old, func(a, b rotated) int {
		if c := strings.Compare(a.date, b.date); c != 0 {
			return c
		}
		return a.idx - b.idx
	})
	return old, nil
}

// prune removes the oldest rotated files beyond keep.
func (w *rotatingFile) prune() error {
	if w.keep < 0 {
		return nil
	}
	old, err := w.rotated()
	if err != nil {
		return err
	}
	var errs []error
	for len(old) > w.keep {
		errs = append(errs, os.Remove(old[0].name))
		old = old[1:]
	}
	return errors.Join(errs...)
}

// reopen closes the file and opens the same path again (after logrotate
// moved it away).
func (w *rotatingFile) reopen() error {
	err := w.flush()
	if w.f != nil {
		err = errors.Join(err, w.f.Close())
		w.f = nil
	}
	return errors.Join(err, w.open())
}

func (w *rotatingFile) close() error {
	err := w.flush()
	if w.f != nil {
		err = errors.Join(err, w.f.Close())
		w.f = nil
	}
	return err
}
