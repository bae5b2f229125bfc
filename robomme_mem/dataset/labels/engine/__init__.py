"""How a labelling run asks and answers: the requests and their keys, the checks an answer must
pass, the session (store, in-flight dedup, priority slots) and an episode's memories, in order."""
