package edge

// SetTestHookBeforeStore sets the hook a fill runs once it has its whole
// body, before it encodes and stores it; tests set it before starting a
// node and reset it (nil) after the node stopped.
func SetTestHookBeforeStore(f func(key string)) { testHookBeforeStore = f }
