"""Stage: chain sets (pdb_chains.npz format) and the training targets cut from them; building chain
sets from PDB/mmCIF files."""
