package geodata

// SetTableBudget sets the lookup budget of IPv4 block table builds and
// returns the old one (tests only).
func SetTableBudget(n int) int {
	old := t4Budget
	t4Budget = n
	return old
}
