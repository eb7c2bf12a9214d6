package edge

// SetTestHookBeforeStore sets the hook a fill runs once it has its whole
// body, before it encodes and stores it; nil removes it.
func SetTestHookBeforeStore(f func(key string)) {
	if f == nil {
		testHookBeforeStore.Store(nil)
		return
	}
	testHookBeforeStore.Store(&f)
}
