/* hungarian.h — optimal assignment (Kuhn–Munkres / Hungarian algorithm, O(n^3)) for the
 * stage-2 mask matching: minimise the sum of cost[i][perm[i]] over permutations. */
#ifndef OVS_HUNGARIAN_H
#define OVS_HUNGARIAN_H

/* cost: n×n row-major; perm[i] = the column assigned to row i. n <= 64. Returns the total cost. */
double ovs_hungarian(const double *cost, int n, int *perm);

#endif
