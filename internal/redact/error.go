package redact

// Error returns err with its text passed through [Text] with secrets; the
// chain stays reachable by errors.Is and errors.As. It returns err itself
// when nothing was masked, and nil for nil.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := Text(msg, secrets...)
	if clean == msg {
		return err
	}
	return &maskedError{msg: clean, err: err}
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }
