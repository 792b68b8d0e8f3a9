"""The criteria language: mission criteria as data (`criteria`), their windows and measures (`windows`, `measures`,
`kernels`), evaluated over event batches for many missions at once (`evaluate`). Import from the modules: the
function `evaluate` would hide the module of the same name if it were re-exported here."""
