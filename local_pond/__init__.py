"""The local pond: the same code as on AWS, on one machine, with moto as the embedded AWS."""
