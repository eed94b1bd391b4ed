package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/viper"
)

// containerConfig is the `endure:` section of .rr.yaml, read as RoadRunner's
// container.NewConfig reads it (before the config plugin, so without -o overrides).
type containerConfig struct {
	GracePeriod time.Duration `mapstructure:"grace_period"`
	LogLevel    string        `mapstructure:"log_level"`
}

func readContainerConfig(cfgFile string) (*containerConfig, error) {
	v := viper.New()
	v.SetConfigFile(cfgFile)
	if err := v.ReadInConfig(); err != nil {
		return nil, err
	}
	cfg := &containerConfig{GracePeriod: 30 * time.Second, LogLevel: "error"}
	if !v.IsSet("endure") {
		return cfg, nil
	}
	if err := v.UnmarshalKey("endure", cfg); err != nil {
		return nil, fmt.Errorf("endure: %w", err)
	}
	return cfg, nil
}

// logLevel is endure's own log level; RoadRunner warns and uses error for anything else.
func (c *containerConfig) logLevel() (slog.Level, error) {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return slog.LevelError, fmt.Errorf(`unknown log level "%s" (allowed: debug, info, warn, error)`, c.LogLevel)
	}
}
