package custody

// Balance is balance, for tests.
var Balance = balance
