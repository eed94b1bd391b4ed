package main

// extraPlugins are the plugins this project adds to RoadRunner.
func extraPlugins() []any {
	return nil
}
