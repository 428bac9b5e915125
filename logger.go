package servicebus

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/sirupsen/logrus"
)

// LogrusLogger adapts a logrus logger to the watermill.LoggerAdapter that
// every part of servicebus logs through. A nil logger means logrus's standard
// logger.
func LogrusLogger(l logrus.FieldLogger) watermill.LoggerAdapter {
	if l == nil {
		l = logrus.StandardLogger()
	}
	return logrusAdapter{entry: l.WithFields(nil)}
}

type logrusAdapter struct {
	entry *logrus.Entry
}

func (a logrusAdapter) Error(msg string, err error, fields watermill.LogFields) {
	e := a.entry.WithFields(logrus.Fields(fields))
	if err != nil { // a warning has none: no error="<nil>"
		e = e.WithError(err)
	}
	e.Error(msg)
}

func (a logrusAdapter) Info(msg string, fields watermill.LogFields) {
	a.entry.WithFields(logrus.Fields(fields)).Info(msg)
}

func (a logrusAdapter) Debug(msg string, fields watermill.LogFields) {
	a.entry.WithFields(logrus.Fields(fields)).Debug(msg)
}

func (a logrusAdapter) Trace(msg string, fields watermill.LogFields) {
	a.entry.WithFields(logrus.Fields(fields)).Trace(msg)
}

func (a logrusAdapter) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return logrusAdapter{entry: a.entry.WithFields(logrus.Fields(fields))}
}
