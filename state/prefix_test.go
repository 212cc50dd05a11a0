package state

import (
	"net/netip"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in, want string
		err      bool
	}{
		{in: "10.1.2.3", want: "10.1.2.3/32"},
		{in: "10.1.2.3/8", want: "10.0.0.0/8"},
		{in: "2001:db8::1", want: "2001:db8::1/128"},
		{in: "2001:db8::1/64", want: "2001:db8::/64"},
		// IPv4-mapped forms mean the IPv4 addresses the relay compares with.
		{in: "::ffff:10.1.2.3", want: "10.1.2.3/32"},
		{in: "::ffff:10.1.2.3/104", want: "10.0.0.0/8"},
		{in: "::ffff:0.0.0.0/96", want: "0.0.0.0/0"},
		{in: "::/0", want: "::/0"},
		{in: "not-an-ip", err: true},
		{in: "10.0.0.0/33", err: true},
	}
	for _, tt := range tests {
		p, err := ParsePrefix(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParsePrefix(%q) = %v, want an error", tt.in, p)
			}
			continue
		}
		if err != nil || p.String() != tt.want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
		}
	}
	p, _ := ParsePrefix("::ffff:127.0.0.0/104")
	if !p.Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("mapped range does not contain the IPv4 address")
	}
}
