package handlers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"oneapi/keys"
)

// errMailNotConfigured means the SMTP settings are empty.
var errMailNotConfigured = errors.New("mail is not configured: set the SMTP server in settings")

// sendMail delivers one plain-text message through the SMTP settings
// (SMTPServer, SMTPPort, SMTPAccount, SMTPToken, SMTPFrom). Port 465 speaks
// TLS from the first byte; other ports upgrade with STARTTLS when the server
// offers it. It runs within the request, so the person learns at once when
// mail cannot go out.
func sendMail(ctx context.Context, s settings, to, subject, body string) error {
	host := s.str("SMTPServer")
	if host == "" {
		return errMailNotConfigured
	}
	port := s.int("SMTPPort")
	from := s.str("SMTPFrom")
	if from == "" {
		from = s.str("SMTPAccount")
	}
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return fmt.Errorf("SMTPFrom %q: %w", from, err)
	}
	toAddr, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
	}
	addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
	d := &net.Dialer{}
	var conn net.Conn
	if port == 465 {
		conn, err = (&tls.Dialer{NetDialer: d, Config: &tls.Config{ServerName: host}}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp connect %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp hello: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && port != 465 {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if acct := s.str("SMTPAccount"); acct != "" {
		if ok, _ := c.Extension("AUTH"); ok {
			// PlainAuth refuses to send the password unencrypted except to localhost.
			if err := c.Auth(smtp.PlainAuth("", acct, s.str("SMTPToken"), host)); err != nil {
				return fmt.Errorf("smtp auth: %w", err)
			}
		}
	}
	if err := c.Mail(fromAddr.Address); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	if err := c.Rcpt(toAddr.Address); err != nil {
		return fmt.Errorf("smtp rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	msg := "From: " + fromAddr.String() + "\r\n" +
		"To: " + toAddr.String() + "\r\n" +
		"Subject: " + mime.QEncoding.Encode("utf-8", subject) + "\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <" + keys.Random(24) + "@" + host + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" +
		strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := w.Write([]byte(msg)); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	return c.Quit()
}
