package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/rpc"
	"strings"

	goridgeRpc "github.com/roadrunner-server/goridge/v3/pkg/rpc"
	"github.com/spf13/viper"
)

// reset is RoadRunner's `rr reset [plugin]...` (internal/cli/reset): it connects to
// rpc.listen and asks the resetter plugin to reset the named plugins (all that can be
// reset when none is named), which restarts their PHP workers.
func reset(cfgFile string, flags, names []string) error {
	client, err := rpcClient(cfgFile, flags)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	if len(names) == 0 {
		if err := client.Call("resetter.List", true, &names); err != nil {
			return err
		}
	}
	var failed []string
	for _, name := range names {
		log.Printf("resetting plugin: [%s]", name)
		var done bool
		if err := client.Call("resetter.Reset", name, &done); err != nil {
			log.Printf("resetting plugin [%s] failed: %v", name, err)
			failed = append(failed, name)
			continue
		}
		log.Printf("plugin reset: [%s]", name)
	}
	if len(failed) > 0 {
		return fmt.Errorf("reset failed for: %s", strings.Join(failed, ", "))
	}
	return nil
}

// rpcClient dials rpc.listen (tcp://host:port or unix://path) with the goridge codec.
func rpcClient(cfgFile string, flags []string) (*rpc.Client, error) {
	v := viper.New()
	v.SetConfigFile(cfgFile)
	if err := v.ReadInConfig(); err != nil {
		return nil, err
	}
	for _, f := range flags {
		key, val, ok := strings.Cut(f, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("invalid flag -o %q: want key=value", f)
		}
		v.Set(key, val)
	}
	listen := v.GetString("rpc.listen")
	if listen == "" {
		return nil, errors.New("rpc.listen is not set in the configuration: reset needs the rpc plugin")
	}
	network, addr, ok := strings.Cut(listen, "://")
	if !ok {
		return nil, fmt.Errorf("rpc.listen %q: want tcp://host:port or unix://path", listen)
	}
	conn, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	return rpc.NewClientWithCodec(goridgeRpc.NewClientCodec(conn)), nil
}
