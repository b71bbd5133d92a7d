"""Media work: a product's images brought in line with its image list, and the events that ask for it."""
