package adaptor

import "fmt"

// registry maps a channel type to its adaptor. It is written only by
// Register during package initialisation and read-only afterwards, so For
// needs no lock on the hot path.
var registry [len(types)]Adaptor

// Register makes a serve the given channel types. Provider packages call it
// from init (import them for their side effect, as with database/sql
// drivers). It panics on an unknown type or a type registered twice: both
// are programming errors. It must not be called once requests are served.
func Register(a Adaptor, channelTypes ...int) {
	for _, t := range channelTypes {
		if _, ok := TypeByID(t); !ok {
			panic(fmt.Sprintf("adaptor: Register of unknown channel type %d", t))
		}
		if registry[t] != nil {
			panic(fmt.Sprintf("adaptor: channel type %d registered twice", t))
		}
		registry[t] = a
	}
}

// For returns the adaptor serving channelType, or nil when no adaptor
// package for that type is linked in.
func For(channelType int) Adaptor {
	if channelType <= 0 || channelType >= len(registry) {
		return nil
	}
	return registry[channelType]
}

// OpenAICompatibleTypes returns the IDs of the types served by the openai
// adaptor.
func OpenAICompatibleTypes() []int {
	var ids []int
	for _, t := range types {
		if t.OpenAICompatible {
			ids = append(ids, t.ID)
		}
	}
	return ids
}
